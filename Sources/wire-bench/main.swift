print("wire-bench")
