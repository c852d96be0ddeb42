from antigravityd.cli import main

raise SystemExit(main())
