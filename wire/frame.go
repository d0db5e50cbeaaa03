package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// HeaderSize is the size of the length prefix in front of every frame body.
const HeaderSize = 4

// DefaultMaxFrame is the largest body a Reader accepts unless told
// otherwise: the server's default transport.max_frame (a transport test keeps
// the two equal; wire cannot import the server's configuration).
const DefaultMaxFrame = 1 << 20

// ErrFrameTooLarge reports a length prefix above the configured maximum. The
// stream cannot be resynchronised after it, so the connection must close.
var ErrFrameTooLarge = errors.New("wire: frame too large")

// AppendFrame appends the header and body of one frame to dst.
func AppendFrame(dst, body []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(body)))
	return append(dst, body...)
}

// FrameSize decodes a frame header (the first HeaderSize bytes of hdr) and
// refuses a length above maxFrame, like CheckSize.
func FrameSize(hdr []byte, maxFrame uint32) (uint32, error) {
	return CheckSize(binary.BigEndian.Uint32(hdr), maxFrame)
}

// CheckSize returns size, or ErrFrameTooLarge when it is above maxFrame: the
// stream cannot be resynchronised after such a header. For readers that
// decode the header themselves (transport peeks it off gev's ring buffer).
func CheckSize(size, maxFrame uint32) (uint32, error) {
	if size > maxFrame {
		return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, size, maxFrame)
	}
	return size, nil
}

// Split looks for one complete frame at the start of buf. It returns the body
// (a sub-slice of buf, not a copy) and the number of bytes the frame occupies.
// n == 0 with a nil error means the frame is not complete yet: keep the bytes
// and wait for more. A zero-length frame is complete: body is empty, n is 4.
func Split(buf []byte, maxFrame uint32) (body []byte, n int, err error) {
	if len(buf) < HeaderSize {
		return nil, 0, nil
	}
	size, err := CheckSize(binary.BigEndian.Uint32(buf), maxFrame)
	if err != nil {
		return nil, 0, err
	}
	end := HeaderSize + int(size)
	if len(buf) < end {
		return nil, 0, nil
	}
	return buf[HeaderSize:end:end], end, nil
}

// Reader reads whole frames from a stream. It is meant for clients and tests;
// the server frames on gev's ring buffer in transport, with the same rules.
type Reader struct {
	r        io.Reader
	maxFrame uint32
	header   [HeaderSize]byte
}

// NewReader returns a Reader that refuses bodies longer than maxFrame.
func NewReader(r io.Reader, maxFrame uint32) *Reader {
	return &Reader{r: r, maxFrame: maxFrame}
}

// ReadFrame reads the next frame and returns its body in a new slice.
func (fr *Reader) ReadFrame() ([]byte, error) {
	if _, err := io.ReadFull(fr.r, fr.header[:]); err != nil {
		return nil, err
	}
	size, err := FrameSize(fr.header[:], fr.maxFrame)
	if err != nil {
		return nil, err
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(fr.r, body); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return body, nil
}
