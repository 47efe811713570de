import ArgumentParser

extension AsyncParsableCommand {
    /// Parses `arguments` (nil: the process's own) and runs the command, printing errors and exiting as
    /// ArgumentParser does. Called from plain `main.swift` files and the multi-call binary, where ArgumentParser's
    /// own `main()` would pick its synchronous variant.
    public static func start(_ arguments: [String]? = nil) async {
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
