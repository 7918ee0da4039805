package sim

import (
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/pilotx/dispatchhub/ingest/normalize"
	"github.com/pilotx/dispatchhub/ingest/verify"
	"github.com/pilotx/dispatchhub/internal/sim/roads"
)

// Every platform's webhook passes the hub's own verification preset with the store's secret
// as the hub reads it from the secret file, fails it with another secret or a changed body,
// and normalises into a new order with the external id the simulator expects.
func TestPlatformWebhooksVerifyAndNormalise(t *testing.T) {
	require.ElementsMatch(t, DefaultPlatforms, Platforms())
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Date(2026, 3, 14, 12, 30, 0, 0, time.FixedZone("CET", 3600))
	dropoff := roads.Point{Lat: 42.5071234, Lng: 1.5224567}
	for _, platform := range Platforms() {
		t.Run(platform, func(t *testing.T) {
			preset, ok := verify.Lookup(platform)
			require.True(t, ok, "a verification preset")
			require.Contains(t, normalize.Supported(), platform, "a normaliser")
			spec := platformSpecs[platform]
			file, key, err := spec.secret()
			require.NoError(t, err)
			other, _, err := spec.secret()
			require.NoError(t, err)
			url := "http://127.0.0.1:8080/v1/webhooks/" + platform + "/0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
			st := &storeInfo{Slug: "sim-" + platform + "-1-abc", Key: key, SignedURL: url}

			ids := map[string]bool{}
			eventIDs := map[string]bool{}
			for seq := 1; seq <= 3; seq++ {
				o := randomOrder(seq, now, dropoff, rng)
				wh := spec.build(&o, st, rng)
				req := &verify.Request{Method: http.MethodPost, URL: url, Header: wh.Header, Body: wh.Body, Now: now}

				res, err := preset.Verify(req, verify.Keys{Secrets: [][]byte{file}}, 0)
				require.NoError(t, err, "the hub verifies the signature")
				assert.Equal(t, wh.EventType, res.EventType)
				assert.NotEmpty(t, res.EventID)
				assert.False(t, eventIDs[res.EventID], "each webhook its own event id")
				eventIDs[res.EventID] = true

				_, err = preset.Verify(req, verify.Keys{Secrets: [][]byte{other}}, 0)
				assert.Error(t, err, "another store's secret does not verify")
				if preset.BodyAuthenticated {
					tampered := *req
					tampered.Body = append(slices.Clone(wh.Body[:len(wh.Body)-1]), ' ', '}')
					_, err = preset.Verify(&tampered, verify.Keys{Secrets: [][]byte{file}}, 0)
					assert.Error(t, err, "a changed body does not verify")
				}

				ev, err := normalize.Normalize(platform, res.EventType, wh.Body, wh.Header.Get("Content-Type"))
				require.NoError(t, err)
				assert.Equal(t, normalize.OrderCreated, ev.Kind)
				assert.Equal(t, wh.ExternalID, ev.ExternalID)
				assert.False(t, ids[ev.ExternalID], "unique order ids")
				ids[ev.ExternalID] = true
				switch platform {
				case "shopify":
					require.NotNil(t, ev.Dropoff)
					require.NotNil(t, ev.Dropoff.Point, "Shopify addresses are geocoded")
					assert.InDelta(t, dropoff.Lat, ev.Dropoff.Point.Lat, 1e-6)
					assert.InDelta(t, dropoff.Lng, ev.Dropoff.Point.Lng, 1e-6)
					assert.Equal(t, cityName, ev.Dropoff.City)
					assert.NotEmpty(t, ev.Items)
					assert.Equal(t, "EUR", ev.Totals.Currency)
				case "woocommerce":
					require.NotNil(t, ev.Dropoff)
					assert.Equal(t, o.Street, ev.Dropoff.Line1)
					assert.Nil(t, ev.Dropoff.Point, "WooCommerce addresses carry no coordinates")
					assert.Len(t, ev.Items, len(o.Items))
				default:
					assert.True(t, ev.NeedsRefetch, "a thin webhook: the order's id only")
				}
			}
		})
	}
}

func TestRandomOrderAndIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	o := randomOrder(7, time.Now(), roads.Point{Lat: 42.5, Lng: 1.52}, rng)
	assert.NotEmpty(t, o.Items)
	assert.Equal(t, 7, o.Seq)
	assert.Regexp(t, `^[a-z]+\.[a-z]+\d+@example\.ad$`, o.Customer.Email)
	assert.Positive(t, o.subtotal())
	assert.Equal(t, "12.50", euros(1250))
	assert.Equal(t, "0.05", euros(5))
	assert.Regexp(t, `^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`, uuid4(rng))
	assert.Regexp(t, `^[0-9a-f]{24}$`, objectID(time.Now(), rng))
	assert.Len(t, squareID(29, rng), 29)
	assert.Equal(t, "joanmart", asciiLower("Joan Martí"), "ASCII letters only")
}
