// Command goflow2_pcap runs goflow2's NetFlow/IPFIX pipeline over the UDP payloads of a pcap.
//
// goflow2 has no pcap input. This feeds each IPv4 UDP payload of a classic pcap file to
// utils.NewNetFlowPipe, as goflow2's UDP workers do: netflow.DecodeMessageVersion with one
// template cache per exporter (source address and port), the protobuf producer goflow2 uses by
// default (-produce sample, no mapping file) and the JSON formatter (-format json; a second
// argument "bin": the protobuf one). The
// transport counts and discards the formatted messages instead of writing them to a file.
// It prints {"rows": flow messages, "bytes": JSON bytes, "datagrams": ..., "errors": ...}.
package main

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/netsampler/goflow2/v2/format"
	_ "github.com/netsampler/goflow2/v2/format/binary"
	_ "github.com/netsampler/goflow2/v2/format/json"
	"github.com/netsampler/goflow2/v2/producer/proto"
	"github.com/netsampler/goflow2/v2/utils"
)

type counter struct{ rows, bytes int }

func (c *counter) Send(key, data []byte) error {
	c.rows++
	c.bytes += len(data)
	return nil
}

func main() {
	raw, err := os.ReadFile(os.Args[1])
	if err != nil || len(raw) < 24 || binary.LittleEndian.Uint32(raw) != 0xA1B2C3D4 {
		fmt.Fprintln(os.Stderr, "need a classic little-endian pcap", err)
		os.Exit(2)
	}
	name := "json" // goflow2's default -format; "bin": protobuf
	if len(os.Args) > 2 {
		name = os.Args[2]
	}
	formatter, err := format.FindFormat(name)
	if err != nil {
		panic(err)
	}
	var cfg *protoproducer.ProducerConfig
	cfgm, err := cfg.Compile()
	if err != nil {
		panic(err)
	}
	producer, err := protoproducer.CreateProtoProducer(cfgm, protoproducer.CreateSamplingSystem)
	if err != nil {
		panic(err)
	}
	out := &counter{}
	pipe := utils.NewNetFlowPipe(&utils.PipeConfig{Format: formatter, Transport: out, Producer: producer})
	dst := netip.MustParseAddrPort("127.0.0.1:4739")
	datagrams, errors := 0, 0
	for pos := 24; pos+16 <= len(raw); {
		sec := binary.LittleEndian.Uint32(raw[pos:])
		usec := binary.LittleEndian.Uint32(raw[pos+4:])
		incl := int(binary.LittleEndian.Uint32(raw[pos+8:]))
		frame := raw[pos+16 : pos+16+incl]
		pos += 16 + incl
		if len(frame) < 42 || frame[12] != 8 || frame[13] != 0 || frame[23] != 17 {
			continue // IPv4 UDP only
		}
		ihl := int(frame[14]&15) * 4
		udp := 14 + ihl
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(frame[26:30])), binary.BigEndian.Uint16(frame[udp:]))
		end := udp + int(binary.BigEndian.Uint16(frame[udp+4:]))
		msg := &utils.Message{Src: src, Dst: dst, Payload: frame[udp+8 : end],
			Received: time.Unix(int64(sec), int64(usec)*1000)}
		datagrams++
		if err := pipe.DecodeFlow(msg); err != nil {
			errors++
		}
	}
	res, _ := json.Marshal(map[string]int{"rows": out.rows, "bytes": out.bytes, "datagrams": datagrams, "errors": errors})
	fmt.Println(string(res))
}
