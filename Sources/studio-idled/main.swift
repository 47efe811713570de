import StudioIdle

import StudioNet

await IdledCommand.start()
