"""Partner file transport: file-drop folders (inbound, outbound, archive, error) on a local disk or over SFTP, the
poller that feeds inbound files to intake, and the sender that writes deliveries as files. No file format here."""
