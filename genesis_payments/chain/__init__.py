"""Reading the chain: USDC over JSON-RPC (web3), the same in fake mode (local anvil) and live mode."""
