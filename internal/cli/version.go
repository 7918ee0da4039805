package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/buildinfo"
)

func (e *env) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			bi := buildinfo.Get()
			if asJSON {
				return e.printJSON(bi)
			}
			fmt.Fprintf(e.stdout, "dispatchhub %s (commit %s, %s)\n", bi.Version, bi.Commit, bi.Go)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}
