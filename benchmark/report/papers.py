"""What each protocol's source paper puts in its main table, in that paper's order: the
default columns of a paper table and the leaderboard's headline.

Keyed by protocol name; each entry is (metric, variant). A column the run did not compute is
left out; the extractor is the paper's where present (``PREFERRED_EXTRACTORS``), else the
protocol classifier, which every run has.
"""

from __future__ import annotations

HEADLINES: dict[str, tuple[tuple[str, str], ...]] = {
    # StarGAN v2 (Choi et al., CVPR 2020), Table 2 (AFHQ): FID and LPIPS, latent then reference
    "afhq": (
        ("fid", "latent"),
        ("lpips_diversity", "latent"),
        ("fid", "reference"),
        ("lpips_diversity", "reference"),
    ),
    # FUNIT (Liu et al., ICCV 2019), Table 1: Top1, Top5, DIPD, IS, mFID per shot count
    "animal_faces": tuple(
        (metric, f"k={k}")
        for k in (1, 5, 10, 15, 20)
        for metric in ("accuracy_top1", "accuracy_top5", "content", "is", "fid")
    ),
    # BicycleGAN (Zhu et al., NeurIPS 2017) Table 1 and MUNIT Table 1: diversity (LPIPS) and
    # realism (their AMT study; FID here), with the paired distance to the ground truth
    "edges2shoes": (("lpips_diversity", ""), ("fid", ""), ("lpips_paired", ""), ("l1", "")),
    # StarGAN (Choi et al., CVPR 2018): classification of the edited attribute, and realism
    "celeba_attributes": (("accuracy_top1", ""), ("fid", "")),
    "celeba_stargan": (("accuracy_top1", ""), ("fid", "")),
}
# the extractor a paper's number used, best first (StarGAN v2 computed FID with torchvision's
# Inception; torch-fidelity's is the common one)
PREFERRED_EXTRACTORS = ("inception-v3-torchvision", "inception-v3-compat")
