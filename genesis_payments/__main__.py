from genesis_payments.cli.main import main

raise SystemExit(main())
