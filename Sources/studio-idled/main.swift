import StudioIdle

IdledCommand.main()
