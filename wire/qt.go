package wire

import "bytes"

// QtJSON encodes v the way the seed's Qt client writes a request body
// (QJsonDocument::toJson, Indented): keys sorted, four spaces of indent,
// "key": value, non-ASCII raw, and a trailing newline that counts in the
// frame length (seed-protocol.md §1.3). For tests, benchmarks and tools that
// must send the client's exact bytes; pass a map so keys come out sorted.
func QtJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := NewEncoder(&b)
	enc.SetIndent("", "    ")
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
