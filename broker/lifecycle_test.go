package broker

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/rs/zerolog"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	tb := startBroker(t, allListeners())
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, tb.Check(ctx))
	for _, id := range []string{ListenerTCP, ListenerWS, ListenerTLS, ListenerWSS} {
		_, port, err := net.SplitHostPort(tb.Addr(id))
		require.NoError(t, err, id)
		assert.NotEqual(t, "0", port, "%s bound to a real port", id)
	}

	tb.Server().Listeners.Close(ListenerWS, func(string) {})
	err := tb.Check(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mqtt listener ws")
	assert.Contains(t, err.Error(), tb.Addr(ListenerWS))
}

func TestCheckBeforeStartAndAfterClose(t *testing.T) {
	b, err := New(testConfig(), zerolog.Nop(), nil)
	require.NoError(t, err)
	assert.ErrorIs(t, b.Check(context.Background()), ErrNotStarted)
	assert.Empty(t, b.Addr(ListenerTCP))
	require.NoError(t, b.Start())
	assert.ErrorIs(t, b.Start(), ErrStarted)
	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close twice")
	assert.ErrorIs(t, b.Check(context.Background()), ErrClosed)
	assert.ErrorIs(t, b.Start(), ErrClosed)
}

func TestCloseWithoutStart(t *testing.T) {
	b, err := New(allListenersWithCert(t), zerolog.Nop(), nil)
	require.NoError(t, err)
	require.NoError(t, b.Close())
}

func allListenersWithCert(t *testing.T) Config {
	cfg := allListeners()
	cfg.TLSCertFile, cfg.TLSKeyFile, _ = selfSigned(t)
	return cfg
}

func TestStartWithTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	free := freeAddr(t)

	cfg := testConfig()
	cfg.TCPAddr = free // bound first, must be released again
	cfg.WSAddr = taken.Addr().String()
	b, err := New(cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	defer b.Close()

	err = b.Start()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "mqtt.ws_addr "+taken.Addr().String())
	assert.Error(t, b.Start(), "a failed broker stays failed")

	ln, err := net.Listen("tcp", free)
	require.NoError(t, err, "the TCP listener bound before the failure was released")
	require.NoError(t, ln.Close())
}

// freeAddr returns a loopback address that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// Close disconnects clients (MQTT 5 clients get DISCONNECT "server shutting down"),
// including connections that have not sent CONNECT yet, and returns promptly.
func TestCloseDisconnectsEveryone(t *testing.T) {
	cfg := testConfig()
	cfg.ConnectTimeout = time.Minute // Close must not wait for it
	b, err := New(cfg, zerolog.Nop(), nil)
	require.NoError(t, err)
	require.NoError(t, b.AddHook(new(allowAll), nil))
	require.NoError(t, b.Start())
	tb := &testBroker{Broker: b}

	disconnected := make(chan *paho.Disconnect, 1)
	conn := tb.dial(t, ListenerWS)
	c := paho.NewClient(paho.ClientConfig{
		Conn:               conn,
		OnServerDisconnect: func(d *paho.Disconnect) { disconnected <- d },
	})
	_, err = c.Connect(t.Context(), &paho.Connect{ClientID: "until-close", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)

	silentTCP, err := net.Dial("tcp", b.Addr(ListenerTCP))
	require.NoError(t, err)
	defer silentTCP.Close()
	silentWS, err := tb.dialWS(t, ListenerWS, "/mqtt", []string{"mqtt"}, nil)
	require.NoError(t, err)
	defer silentWS.Close()
	eventually(t, func() bool {
		n := 0
		b.connecting.Range(func(any, any) bool { n++; return true })
		return n == 2
	}, "both silent connections reached mochi")

	start := time.Now()
	require.NoError(t, b.Close())
	assert.Less(t, time.Since(start), closeGrace, "no waiting for connect_timeout or keepalives")

	select {
	case d := <-disconnected:
		assert.Equal(t, byte(0x8B), d.ReasonCode, "server shutting down")
	case <-time.After(waitFor):
		t.Fatal("client not told about the shutdown")
	}
	<-c.Done()
	assertClosedByServer(t, silentTCP)
	require.NoError(t, silentWS.SetReadDeadline(time.Now().Add(waitFor)))
	_, _, err = silentWS.ReadMessage()
	assert.Error(t, err)
}

// Close must not deadlock with clients disconnecting at the same moment.
func TestCloseWhileClientsDisconnect(t *testing.T) {
	for range 20 {
		b, err := New(testConfig(), zerolog.Nop(), nil)
		require.NoError(t, err)
		require.NoError(t, b.AddHook(new(allowAll), nil))
		require.NoError(t, b.Start())

		var conns []net.Conn
		for i := range 30 {
			c, err := net.Dial("tcp", b.Addr(ListenerTCP))
			require.NoError(t, err)
			_, err = c.Write(v3Connect("c"+strconv.Itoa(i), 30, true))
			require.NoError(t, err)
			readN(t, c, 4)
			conns = append(conns, c)
		}
		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Go(func() { _ = c.Close() })
		}
		closed := make(chan error, 1)
		go func() { closed <- b.Close() }()
		select {
		case err := <-closed:
			require.NoError(t, err)
		case <-time.After(waitFor):
			t.Fatal("Close hangs")
		}
		wg.Wait()
	}
}
