"""Showing results to people: inline videos (:mod:`.video`), figures for the book (:mod:`.plots`) and annotated
code listings (:mod:`.listing`)."""
from . import listing, plots, video
from .plots import image_grid_figure, setup_plotly, show_image_grid
from .video import encode_gif, encode_mp4, frame_grid, save_video, show_video, video_grid, video_html

__all__ = ["encode_gif", "encode_mp4", "frame_grid", "image_grid_figure", "listing", "plots", "save_video", "setup_plotly",
           "show_image_grid", "show_video", "video", "video_grid", "video_html"]
