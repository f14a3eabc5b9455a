from cellstore.cli import main

raise SystemExit(main())
