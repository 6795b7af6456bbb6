#!/usr/bin/env python3
"""Writes N synthetic procedures (JSON Lines) for load tests of the catalogue.

Names combine real Vietnamese administrative verbs and objects, so search
words hit a realistic share of the catalogue. Agencies and fields are the
demo province's. Usage: make_procedures.py N > procedures.jsonl
"""
import itertools
import json
import random
import sys

VERBS = ["Cấp", "Cấp lại", "Cấp đổi", "Gia hạn", "Điều chỉnh", "Đăng ký", "Xác nhận", "Công nhận",
         "Thẩm định", "Phê duyệt", "Thu hồi", "Chấm dứt", "Bổ sung", "Đăng ký thay đổi", "Xóa đăng ký"]
OBJECTS = ["giấy phép xây dựng", "giấy chứng nhận quyền sử dụng đất", "giấy phép kinh doanh",
           "giấy phép lái xe", "hộ kinh doanh", "khai sinh", "kết hôn", "khai tử", "thường trú", "tạm trú",
           "phiếu lý lịch tư pháp", "giấy phép môi trường", "chứng chỉ hành nghề", "giấy phép bán lẻ rượu",
           "giấy chứng nhận an toàn thực phẩm", "sổ bảo hiểm xã hội", "thẻ bảo hiểm y tế", "biển số xe",
           "giấy phép khai thác nước", "hồ sơ địa chính", "quyết định giao đất", "giấy phép quảng cáo",
           "giấy phép tổ chức lễ hội", "chứng thực bản sao", "giấy phép hoạt động giáo dục",
           "giấy phép hành nghề y", "giấy chứng nhận đầu tư", "giấy phép lao động", "nhãn hiệu hàng hóa",
           "giấy phép vận tải", "trợ cấp xã hội", "hộ nghèo", "người có công", "giấy phép khai thác khoáng sản"]
FIELDS = ["ho_tich", "cu_tru", "ly_lich_tu_phap", "dang_ky_kinh_doanh", "xay_dung", "duong_bo", "dat_dai",
          "bao_hiem_xa_hoi", "luu_thong_hang_hoa", "chung_thuc"]
AGENCIES = {"commune": ["000.00.01.H24", "000.00.02.H24", "000.05.01.H24", "000.05.02.H24"],
            "province": ["000.01.00.H24", "000.02.00.H24", "000.03.00.H24", "000.04.00.H24", "000.05.00.H24"],
            "ministry": ["000.00.00.G12"]}
DOCUMENTS = ["Tờ khai theo mẫu", "Bản sao giấy tờ tùy thân", "Giấy tờ chứng minh nơi cư trú",
             "Văn bản ủy quyền (nếu có)", "Bản vẽ thiết kế", "Giấy chứng nhận đăng ký doanh nghiệp"]


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    rng = random.Random(20261127)
    pairs = list(itertools.product(VERBS, OBJECTS))
    rng.shuffle(pairs)
    for i in range(n):
        verb, obj = pairs[i % len(pairs)]
        round_ = i // len(pairs)
        name = f"{verb} {obj}" + (f" (trường hợp {round_ + 1})" if round_ else "")
        level = rng.choice(["commune", "commune", "province", "province", "ministry"])
        record = {
            "code": f"8.{i:06d}",
            "name_vi": name,
            "name_en": f"Procedure {i}",
            "level": level,
            "field": rng.choice(FIELDS),
            "fee_vnd": rng.choice([0, 0, 20000, 50000, 100000, 1200000, None]),
            "processing_days": rng.choice([1, 3, 5, 7, 10, 15, 20]),
            "online": rng.choice(["full", "partial"]),
            "required_documents": rng.sample(DOCUMENTS, 3),
            "legal_basis": "Nghị định 118/2025/NĐ-CP",
            "agency_codes": rng.sample(AGENCIES[level], 1),
        }
        print(json.dumps(record, ensure_ascii=False))


if __name__ == "__main__":
    main()
