import StudioCLI
import StudioNet

await StudioCtl.start()
