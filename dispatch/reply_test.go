package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/dispatch"
)

const jobID = "0193a3f2-7c1e-7b4e-9a0c-2f1d3e4b5a6c"

func TestDecodeReply(t *testing.T) {
	r, err := dispatch.DecodeReply([]byte(`{"job_id":"` + strings.ToUpper(jobID) + `","action":"failed","ts":1764000000000,"reason":"  customer absent ","lat":38.7}`))
	require.NoError(t, err)
	assert.Equal(t, dispatch.Reply{JobID: jobID, Action: dispatch.ActionFailed, Reason: "customer absent"}, r)

	for _, a := range []dispatch.Action{dispatch.ActionAccept, dispatch.ActionDecline, dispatch.ActionPickedUp, dispatch.ActionDelivered, dispatch.ActionFailed} {
		r, err := dispatch.DecodeReply([]byte(`{"job_id":"` + jobID + `","action":"` + string(a) + `"}`))
		require.NoError(t, err, a)
		assert.Equal(t, a, r.Action)
	}
}

func TestDecodeReplyErrors(t *testing.T) {
	cases := map[string]struct{ payload, reason, detail string }{
		"not json":        {`accept`, "json", "not a JSON object"},
		"array":           {`[1]`, "json", "not a JSON object"},
		"trailing":        {`{"job_id":"` + jobID + `","action":"accept"} {}`, "json", "trailing data"},
		"no job":          {`{"action":"accept"}`, "job_id", "job_id is required"},
		"job not uuid":    {`{"job_id":"42","action":"accept"}`, "job_id", "job_id must be the job's UUID"},
		"job wrong type":  {`{"job_id":42,"action":"accept"}`, "json", "not a JSON object"},
		"no action":       {`{"job_id":"` + jobID + `"}`, "action", "action is required"},
		"unknown action":  {`{"job_id":"` + jobID + `","action":"teleport"}`, "action", `got "teleport"`},
		"reason too long": {`{"job_id":"` + jobID + `","action":"failed","reason":"` + strings.Repeat("x", dispatch.MaxReasonLength+1) + `"}`, "reason", "at most"},
		"too large":       {`{"job_id":"` + jobID + `","action":"accept","pad":"` + strings.Repeat("x", dispatch.MaxReplyPayload) + `"}`, "too_large", "bytes"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := dispatch.DecodeReply([]byte(tc.payload))
			var re *dispatch.ReplyError
			require.True(t, errors.As(err, &re), "got %v", err)
			assert.Equal(t, tc.reason, re.Reason)
			assert.Contains(t, re.Error(), tc.detail)
		})
	}
}

// FuzzDecodeReply: any payload gives a reply that re-encodes to itself, or a ReplyError;
// never a panic.
func FuzzDecodeReply(f *testing.F) {
	f.Add([]byte(`{"job_id":"` + jobID + `","action":"accept"}`))
	f.Add([]byte(`{"job_id":"` + jobID + `","action":"failed","reason":"dog"}`))
	f.Add([]byte(`{"job_id":null,"action":"accept"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"job_id":"` + jobID + `","action":"decline"}garbage`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := dispatch.DecodeReply(payload)
		if err != nil {
			var re *dispatch.ReplyError
			if !errors.As(err, &re) || re.Reason == "" {
				t.Fatalf("error %v is not a ReplyError with a reason", err)
			}
			return
		}
		raw, err := json.Marshal(r)
		require.NoError(t, err)
		again, err := dispatch.DecodeReply(raw)
		require.NoError(t, err)
		require.Equal(t, r, again)
	})
}

func TestDecodeSettings(t *testing.T) {
	s, err := dispatch.DecodeSettings([]byte(`{"strategy":"batch","offer_timeout":"20s","batch_window":"1s","broadcast_fanout":4,"max_pickup_distance_m":8000}`))
	require.NoError(t, err)
	assert.Equal(t, dispatch.StrategyBatch, s.Strategy)
	assert.Equal(t, "20s", s.OfferTimeout.String())
	raw, err := json.Marshal(s)
	require.NoError(t, err)
	again, err := dispatch.DecodeSettings(raw)
	require.NoError(t, err)
	assert.Equal(t, s, again)

	none, err := dispatch.DecodeSettings(nil)
	require.NoError(t, err)
	assert.Equal(t, dispatch.Settings{}, none)

	for raw, want := range map[string]string{
		`{"strategy":"closest"}`:   "strategy: must be nearest, batch, broadcast or manual",
		`{"offer_timeout":"1s"}`:   "offer_timeout: must be 5s to 10m",
		`{"offer_timeout":"soon"}`: "offer_timeout",
		`{"broadcast_fanout":99}`:  "broadcast_fanout: must be 1 to 50",
		`[]`:                       "dispatch settings",
	} {
		_, err := dispatch.DecodeSettings([]byte(raw))
		require.Error(t, err, raw)
		assert.Contains(t, err.Error(), want, raw)
	}
}

// A reply to a job that does not exist (an offer lost in a crash) or that is another driver's
// changes nothing but a ReplyRejected (unknown_job) to the driver who sent it.
func TestApplyReplyUnknownJob(t *testing.T) {
	env := newQueryEnv(t)
	ctx := context.Background()
	o, _, err := dispatch.CreateOrder(ctx, env.db, "acme", phoneOrder("r-1"))
	require.NoError(t, err)
	var job string
	require.NoError(t, env.db.WithTenantTx(ctx, "acme", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO drivers (id) VALUES ('d1'), ('d2')`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE orders SET status = 'offered' WHERE id = $1`, o.ID); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO assignments (order_id, driver_id, status, expires_at)
			VALUES ($1, 'd1', 'offered', now() + interval '1 minute') RETURNING id::text`, o.ID).Scan(&job)
	}))

	for name, tc := range map[string]struct{ driver, job string }{
		"lost offer":     {"d1", jobID},
		"another driver": {"d2", job},
	} {
		err := dispatch.ApplyReply(ctx, env.db, "acme", tc.driver, dispatch.Reply{JobID: tc.job, Action: dispatch.ActionAccept}, time.Now())
		var rej *dispatch.Rejection
		require.True(t, errors.As(err, &rej), "%s: %v", name, err)
		assert.Equal(t, dispatch.RejectUnknownJob, rej.Code, name)
	}
	assert.Equal(t, 2, sqlCount(t, env.db, "acme", `SELECT count(*) FROM outbox WHERE event_type = 'ReplyRejected'`))
	assert.Equal(t, 1, sqlCount(t, env.db, "acme", `SELECT count(*) FROM assignments WHERE status = 'offered'`), "nothing else changed")

	require.NoError(t, dispatch.ApplyReply(ctx, env.db, "acme", "d1", dispatch.Reply{JobID: job, Action: dispatch.ActionAccept}, time.Now()))
	require.NoError(t, dispatch.ApplyReply(ctx, env.db, "acme", "d1", dispatch.Reply{JobID: job, Action: dispatch.ActionAccept}, time.Now()), "a repeated accept is a no-op")
	assert.Equal(t, 1, sqlCount(t, env.db, "acme", `SELECT count(*) FROM outbox WHERE event_type = 'OrderAssigned'`))
}
