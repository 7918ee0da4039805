package hooks

import (
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"

	"github.com/pilotx/dispatchhub/internal/auth"
)

// Session is one authenticated connection: who it is and what it may do.
type Session struct {
	Identity    auth.Identity
	ACL         ACL
	Listener    string
	ConnectedAt time.Time

	expiry *time.Timer
}

// Sessions maps each connected client to its Session. The Access hook writes it at CONNECT and
// removes the entry on disconnect; the other hooks read it. Keys are client pointers, so a
// takeover (same client id, new connection) never overwrites the session of the old one.
type Sessions struct{ m sync.Map }

// Get returns the client's session, or nil when it is not authenticated.
func (s *Sessions) Get(cl *mqtt.Client) *Session {
	v, ok := s.m.Load(cl)
	if !ok {
		return nil
	}
	return v.(*Session)
}

func (s *Sessions) put(cl *mqtt.Client, sess *Session) { s.m.Store(cl, sess) }

func (s *Sessions) remove(cl *mqtt.Client) *Session {
	v, ok := s.m.LoadAndDelete(cl)
	if !ok {
		return nil
	}
	return v.(*Session)
}
