package squarespace_test

import (
	"fmt"
	"testing"

	"github.com/pilotx/dispatchhub/connectors"
	"github.com/pilotx/dispatchhub/connectors/conformance"
	"github.com/pilotx/dispatchhub/connectors/fakeplatform"
	"github.com/pilotx/dispatchhub/connectors/squarespace"
)

// order is a Squarespace order id (24 hex digits) for order n.
func order(n int) string { return fmt.Sprintf("5f3e0a1b2c3d4e5f%08x", n) }

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: squarespace.New(squarespace.Config{}),
		Start:     func(tb testing.TB) *fakeplatform.Server { return fakeplatform.NewSquarespace(tb) },
		Supports:  []string{connectors.StatusPickedUp},
		Order:     order,
	})
}
