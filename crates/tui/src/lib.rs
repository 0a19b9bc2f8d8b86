//! hyperzoo-tui: the terminal workbench. Reads the run store (`hyperzoo_core::run`) and draws it;
//! no burn here, so it builds and tests without libtorch.
