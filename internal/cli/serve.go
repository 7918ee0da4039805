package cli

import (
	"github.com/spf13/cobra"

	"github.com/pilotx/dispatchhub/internal/app"
)

func (e *env) serveCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the hub: HTTP edge, NATS backbone, and every worker",
		Long: `Run the hub until SIGINT or SIGTERM, then stop gracefully within shutdown_timeout.
Dependencies that are down at start are retried with backoff; /readyz names them meanwhile.
--dev seeds a demo tenant and stores and prints copy-paste examples.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := e.load(cmd)
			if err != nil {
				return err
			}
			log := e.logger(cfg)
			tuneRuntime(cfg.Runtime, log)
			return app.New(cfg, log, e.stdout).Run(cmd.Context())
		},
	}
}
