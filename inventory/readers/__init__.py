"""One reader per source kind: `rest`, `ftp`, `sftp` pull; webhook pushes arrive through
`inventory.views.webhook_receiver` and are stored before they are read. `parsing` turns any of
their documents into records."""
