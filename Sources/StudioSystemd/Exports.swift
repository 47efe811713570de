// The service protocols StudioSystemd's users need alongside it (logging, notifications, socket activation,
// SystemError) live in StudioJournal, which links no C library, so that the agent can use them without libsystemd.
@_exported import StudioJournal
