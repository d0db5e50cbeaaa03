package cluster

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
)

// subject is prefix.name.
func (d *Directory) subject(name string) string { return d.cfg.SubjectPrefix + "." + name }

// userSubject is prefix.u.<token>, the subject of one user's pushes.
func (d *Directory) userSubject(userID string) string {
	return d.cfg.SubjectPrefix + ".u." + userToken(userID)
}

// userOf is the user a prefix.u.<token> subject names.
func (d *Directory) userOf(subject string) (string, bool) {
	tok, ok := strings.CutPrefix(subject, d.cfg.SubjectPrefix+".u.")
	if !ok {
		return "", false
	}
	return tokenUser(tok)
}

// userToken makes a user id one NATS subject token. Ids are phone numbers
// (digits) in practice and are used as they are; anything else (a dot or a
// wildcard would change the subject's meaning) is hex-encoded behind "=",
// which the plain form never contains, so two ids never share a token.
func userToken(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '-') {
			return "=" + hex.EncodeToString([]byte(id))
		}
	}
	if id == "" {
		return "="
	}
	return id
}

func tokenUser(tok string) (string, bool) {
	h, ok := strings.CutPrefix(tok, "=")
	if !ok {
		return tok, true
	}
	b, err := hex.DecodeString(h)
	return string(b), err == nil
}

// encodeMany lays out a fan-out: uvarint(count), then uvarint(len) + id for
// each user, then the body, which is copied once whatever the count.
func encodeMany(ids []string, body []byte) []byte {
	size := binary.MaxVarintLen64 * (1 + len(ids))
	for _, id := range ids {
		size += len(id)
	}
	out := make([]byte, 0, size+len(body))
	out = binary.AppendUvarint(out, uint64(len(ids)))
	for _, id := range ids {
		out = binary.AppendUvarint(out, uint64(len(id)))
		out = append(out, id...)
	}
	return append(out, body...)
}

// decodeMany reverses encodeMany. The body aliases b.
func decodeMany(b []byte) (ids []string, body []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return nil, nil, false
	}
	b = b[k:]
	ids = make([]string, 0, n)
	for range n {
		l, k := binary.Uvarint(b)
		if k <= 0 || l > uint64(len(b)-k) {
			return nil, nil, false
		}
		ids = append(ids, string(b[k:k+int(l)]))
		b = b[k+int(l):]
	}
	return ids, b, true
}
