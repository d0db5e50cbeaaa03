package session

// connect is what transport does to the registry when a connection opens.
func connect(r *Registry, s *Session) { r.Add(s) }
