from mitwin.cli import main

raise SystemExit(main())
