//! Structure of a component: imports, exports, nested modules, producers and WIT.
