// The multi-call binary shipped in the .deb: one copy of the Swift runtime and Foundation for all four programs.
// /usr/lib/studio/{studiod,studio-sandbox,studio-idled} and /usr/bin/studioctl are links to it; the name it was
// started under picks the program. `studio PROGRAM ARGS…` works too.
import StudioCLI
import StudioIdle
import StudioNet
import StudioSandbox
import StudioServer

#if canImport(Glibc)
import Glibc
#endif

let programs = ["studiod", "studio-sandbox", "studio-idled", "studioctl"]
var arguments = CommandLine.arguments
var name = String(arguments.removeFirst().split(separator: "/").last ?? "")
if name == "studio" {
    guard let first = arguments.first, programs.contains(first) else {
        printError("usage: studio {\(programs.joined(separator: "|"))} [ARGUMENTS…]")
        exit(64)
    }
    name = arguments.removeFirst()
}

switch name {
case "studiod": await StudiodCommand.start(arguments)
case "studio-sandbox": await SandboxCommand.start(arguments)
case "studio-idled": await IdledCommand.start(arguments)
case "studioctl": await StudioCtl.start(arguments)
default:
    printError("studio: started as \"\(name)\", which is none of \(programs.joined(separator: ", "))")
    exit(64)
}
