package shopify_test

import (
	"strconv"
	"testing"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/conformance"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/connectors/shopify"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: shopify.New(shopify.Config{}),
		Start:     func(tb testing.TB) *fakeplatform.Server { return fakeplatform.NewShopify(tb) },
		Supports: []string{connectors.StatusAssigned, connectors.StatusPickedUp, connectors.StatusDelivered,
			connectors.StatusFailed, connectors.StatusCancelled},
		Order: func(n int) string { return strconv.Itoa(5_450_000_000 + n) },
	})
}
