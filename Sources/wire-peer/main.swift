print("wire-peer")
