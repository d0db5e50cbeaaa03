package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"

	"github.com/parley-im/parley/cluster"
	"github.com/parley-im/parley/config"
	"github.com/parley-im/parley/session"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string // path of its certificate, as cluster.tls_ca takes it
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name+".pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: path}
}

// serverCert is a certificate for 127.0.0.1 signed by ca.
func (ca *testCA) serverCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// startTLSNATS embeds a NATS server that accepts TLS clients only, with a
// certificate signed by ca, and returns its tls:// URL.
func startTLSNATS(t *testing.T, ca *testCA) string {
	t.Helper()
	srv, err := natsserver.NewServer(&natsserver.Options{
		Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
		TLS: true, TLSTimeout: 5, TLSConfig: &tls.Config{Certificates: []tls.Certificate{ca.serverCert(t)}, MinVersion: tls.VersionTLS12},
	})
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("embedded NATS did not start")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return fmt.Sprintf("tls://127.0.0.1:%d", srv.Addr().(*net.TCPAddr).Port)
}

func tlsCluster(url, prefix, node, ca string) config.Cluster {
	cfg := config.Default().Cluster
	cfg.NATSURL, cfg.SubjectPrefix, cfg.Node, cfg.TLSCA = url, prefix, node, ca
	return cfg
}

// cluster.tls_ca is what a node verifies NATS with: with the CA that signed
// the server's certificate two nodes connect over TLS and a push crosses
// them; with another CA the node does not start (it would otherwise serve
// alone, retrying a handshake that can never succeed), and the error names
// the setting to check. So does a nats:// URL without the CA when the server
// requires TLS (the client upgrades, and the system roots do not know it).
func TestTLSNATS(t *testing.T) {
	ca := newTestCA(t, "parley-test-ca")
	url := startTLSNATS(t, ca)
	prefix := randomPrefix()

	var nodes []*cluster.Directory
	for _, name := range []string{"a", "b"} {
		d := cluster.New(tlsCluster(url, prefix, name, ca.pem), nil)
		if err := d.Start(cluster.Hooks{}); err != nil {
			t.Fatalf("node %s with the right CA: %v", name, err)
		}
		t.Cleanup(func() { _ = d.Stop(t.Context()) })
		if !d.Stats().Connected {
			t.Fatalf("node %s started but is not connected", name)
		}
		nodes = append(nodes, d)
	}
	c := &countConn{}
	nodes[1].Bind(session.New(1, "p", c), "u")
	if got := nodes[0].Deliver("u", []byte("over tls")); got != 1 {
		t.Fatalf("a push from a to u on b reached %d sessions, want 1", got)
	}
	eventually(t, "the push on b", func() bool { return c.count() == 1 })

	other := newTestCA(t, "some-other-ca")
	err := cluster.New(tlsCluster(url, prefix, "c", other.pem), nil).Start(cluster.Hooks{})
	if err == nil || !strings.Contains(err.Error(), "cluster.tls_ca") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("Start with a CA that did not sign the server's certificate = %v, want an error naming cluster.tls_ca", err)
	}
	plain := strings.Replace(url, "tls://", "nats://", 1)
	err = cluster.New(tlsCluster(plain, prefix, "d", ""), nil).Start(cluster.Hooks{})
	if err == nil || !strings.Contains(err.Error(), "cluster.tls_ca") {
		t.Fatalf("Start with nats:// and no CA against a TLS-only server = %v, want an error naming cluster.tls_ca", err)
	}
}
