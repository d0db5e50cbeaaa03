package client

// StartTestServer starts the in-process stand-in server the runnable
// examples talk to (users "1", "2" and "3", password "666"). It exists only
// in the test binary.
func StartTestServer() (addr string, stop func(), err error) {
	s, err := startFakeServer("127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	return s.addr(), s.close, nil
}
