"""Lending idle compute: WebAssembly jobs run in a sandbox, matched, verified and paid."""
