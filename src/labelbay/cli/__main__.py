from labelbay.cli import main

raise SystemExit(main())
