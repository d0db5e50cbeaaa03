package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func TestSplit(t *testing.T) {
	frame := AppendFrame(nil, []byte(`{"type":"ping"}`))
	tests := []struct {
		name     string
		buf      []byte
		max      uint32
		wantBody string
		wantN    int
		wantErr  error
	}{
		{"empty", nil, 1024, "", 0, nil},
		{"partial header", []byte{0, 0}, 1024, "", 0, nil},
		{"header only", frame[:4], 1024, "", 0, nil},
		{"partial body", frame[:len(frame)-1], 1024, "", 0, nil},
		{"whole", frame, 1024, `{"type":"ping"}`, len(frame), nil},
		{"whole plus next", append(append([]byte{}, frame...), 0, 0), 1024, `{"type":"ping"}`, len(frame), nil},
		{"zero length", []byte{0, 0, 0, 0, 9}, 1024, "", 4, nil},
		{"at max", AppendFrame(nil, make([]byte, 8)), 8, string(make([]byte, 8)), 12, nil},
		{"over max", AppendFrame(nil, make([]byte, 9)), 8, "", 0, ErrFrameTooLarge},
		{"near 2^32", []byte{0xff, 0xff, 0xff, 0xfe}, 1 << 20, "", 0, ErrFrameTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, n, err := Split(tt.buf, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if n != tt.wantN || string(body) != tt.wantBody {
				t.Fatalf("got (%q, %d), want (%q, %d)", body, n, tt.wantBody, tt.wantN)
			}
		})
	}
}

func TestReaderReadsStuckAndSplitFrames(t *testing.T) {
	var stream []byte
	want := []string{`{"a":1}`, ``, `{"type":"login"}`, string(bytes.Repeat([]byte("x"), 5000))}
	for _, w := range want {
		stream = AppendFrame(stream, []byte(w))
	}
	// A reader that hands out one byte at a time is the worst case of split
	// frames; the frames are also stuck together in one stream.
	r := NewReader(iotestOneByte{bytes.NewReader(stream)}, 1<<20)
	for _, w := range want {
		got, err := r.ReadFrame()
		if err != nil || string(got) != w {
			t.Fatalf("ReadFrame = %q, %v; want %q", got, err, w)
		}
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
}

func TestReaderRefusesOversizeAndTruncated(t *testing.T) {
	big := binary.BigEndian.AppendUint32(nil, 100)
	if _, err := NewReader(bytes.NewReader(big), 99).ReadFrame(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("oversize: %v", err)
	}
	trunc := AppendFrame(nil, []byte("hello"))[:7]
	if _, err := NewReader(bytes.NewReader(trunc), 99).ReadFrame(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
}

type iotestOneByte struct{ r io.Reader }

func (o iotestOneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}
