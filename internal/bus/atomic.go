package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
)

// JetStream atomic batch publishing (nats-server 2.12+, stream option allow_atomic, which
// the streams of StreamConfigs have).
const (
	BatchIDHeader     = "Nats-Batch-Id"
	BatchSeqHeader    = "Nats-Batch-Sequence"
	BatchCommitHeader = "Nats-Batch-Commit"
	// AtomicBatchMax stays under the server's limit on messages per batch (1,000).
	AtomicBatchMax = 500
	// AtomicBatchMin is the smallest run worth an atomic batch: the server stages each batch
	// in a file store of its own, created (with fsyncs) and deleted per batch, which costs
	// more than the fsyncs it saves on a few messages (measured: a third of the hub's CPU
	// with batches of 2-5 at 200 webhooks/s). Shorter runs are published message by message.
	AtomicBatchMin = 32
	// atomicCommitTimeout bounds the wait for the commit's acknowledgement.
	atomicCommitTimeout = 10 * time.Second
)

// ErrBatchRefused: the server did not store the batch (none of it is stored).
var ErrBatchRefused = errors.New("atomic batch refused")

// PublishAtomic stores msgs (2 to AtomicBatchMax, one stream) as one atomic batch and
// returns nil once the server has acknowledged the commit. With sync always the server
// writes the batch with one fsync instead of one per message, and acknowledges it once the
// batch is on disk. All or none is stored: a batch is refused whole when one of its messages
// is in the stream already (its Nats-Msg-Id within the duplicate window), which happens to a
// relay that publishes again after a crash; the caller then publishes message by message
// (after ClearBatchHeaders), which de-duplicates each one. It sets the batch headers on msgs.
func PublishAtomic(ctx context.Context, nc *nats.Conn, msgs []*nats.Msg) error {
	if len(msgs) < 2 || len(msgs) > AtomicBatchMax {
		return fmt.Errorf("%w: %d messages (2 to %d)", ErrBatchRefused, len(msgs), AtomicBatchMax)
	}
	id := uuid.NewString()
	last := len(msgs) - 1
	for i, msg := range msgs {
		if msg.Header == nil {
			msg.Header = nats.Header{}
		}
		msg.Header.Set(BatchIDHeader, id)
		msg.Header.Set(BatchSeqHeader, strconv.Itoa(i+1))
		if i < last {
			if err := nc.PublishMsg(msg); err != nil {
				return fmt.Errorf("atomic batch message %d: %w", i+1, err)
			}
		}
	}
	msgs[last].Header.Set(BatchCommitHeader, "1")
	rctx, cancel := context.WithTimeout(ctx, atomicCommitTimeout)
	defer cancel()
	resp, err := nc.RequestMsgWithContext(rctx, msgs[last])
	if err != nil {
		return fmt.Errorf("atomic batch commit: %w", err)
	}
	var ack struct {
		Error *struct {
			ErrCode     int    `json:"err_code"`
			Description string `json:"description"`
		} `json:"error"`
		Batch string `json:"batch"`
		Count int    `json:"count"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("%w: unreadable acknowledgement: %v", ErrBatchRefused, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("%w: %s (err_code %d)", ErrBatchRefused, ack.Error.Description, ack.Error.ErrCode)
	}
	if ack.Batch != id || ack.Count != len(msgs) {
		return fmt.Errorf("%w: acknowledged batch %q of %d messages, sent %q of %d", ErrBatchRefused, ack.Batch, ack.Count, id, len(msgs))
	}
	return nil
}

// ClearBatchHeaders removes what PublishAtomic set, before msg is published alone.
func ClearBatchHeaders(msg *nats.Msg) {
	msg.Header.Del(BatchIDHeader)
	msg.Header.Del(BatchSeqHeader)
	msg.Header.Del(BatchCommitHeader)
}
