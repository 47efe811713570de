import StudioCLI

StudioCtl.main()
