import ArgumentParser
import StudioCore

/// `studioctl`: Studio's command line. Who you are comes from the kernel (SO_PEERCRED); no password locally.
public struct StudioCtl: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "studioctl",
        abstract: "Control Studio, the self-hosted development studio.",
        version: StudioVersion.string,
        subcommands: [
            Create.self, Start.self, Stop.self, Restart.self, Delete.self, List.self, Status.self, Shell.self,
            Exec.self, Set.self, Keep.self, Reset.self, Logs.self, Templates.self, Images.self, ImageCommand.self, Version.self,
        ])

    public init() {}
}

/// Options every command that talks to Studio's daemons shares.
struct SocketOptions: ParsableArguments {
    @Option(help: ArgumentHelp("studiod's local socket.", valueName: "path", visibility: .hidden))
    var studiodSocket: String = Paths.studiodSocket

    @Option(help: ArgumentHelp("The broker's socket.", valueName: "path", visibility: .hidden))
    var brokerSocket: String = Paths.brokerSocket
}

/// Exit codes, from sysexits.h, so that scripts can tell failures apart.
enum ExitCodes {
    /// A daemon could not be reached.
    static let unavailable = ExitCode(69)
    /// A daemon answered something this studioctl cannot understand.
    static let protocolError = ExitCode(76)
}
