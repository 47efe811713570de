import StudioAgent
import StudioNet

await AgentCommand.start()
