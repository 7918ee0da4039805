package woocommerce

import (
	"strconv"
	"testing"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/conformance"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: New(Config{}),
		Start:     fakeplatform.NewWooCommerce,
		Supports: []string{connectors.StatusAssigned, connectors.StatusPickedUp, connectors.StatusDelivered,
			connectors.StatusFailed, connectors.StatusCancelled},
		Order: func(n int) string { return strconv.Itoa(1000 + n) },
	})
}
