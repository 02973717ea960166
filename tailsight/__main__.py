from tailsight.cli import main

raise SystemExit(main())
