import StudioSandbox
import StudioNet

await SandboxCommand.start()
