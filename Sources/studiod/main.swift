import StudioServer
import StudioNet

await StudiodCommand.start()
