"""Attribution: builds each person's journey and credits every conversion under every model."""
