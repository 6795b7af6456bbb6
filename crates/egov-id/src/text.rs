//! The sign-in pages' strings, in Vietnamese and English.

use egov_web::Lang;

#[derive(Debug)]
pub(crate) struct IdText {
    pub(crate) sign_in_title: &'static str,
    pub(crate) sign_in_lead: &'static str,
    pub(crate) client_label: &'static str,
    pub(crate) login_label: &'static str,
    pub(crate) login_hint: &'static str,
    pub(crate) password_label: &'static str,
    pub(crate) sign_in_button: &'static str,
    pub(crate) bad_credentials: &'static str,
    pub(crate) too_many_attempts: &'static str,
    pub(crate) missing_fields: &'static str,
    pub(crate) continue_button: &'static str,
    pub(crate) form_post_title: &'static str,
    pub(crate) signed_out_title: &'static str,
    pub(crate) signed_out_body: &'static str,
    pub(crate) request_error_title: &'static str,
    pub(crate) unknown_client: &'static str,
    pub(crate) bad_redirect_uri: &'static str,
    pub(crate) back_home: &'static str,
}

pub(crate) static VI: IdText = IdText {
    sign_in_title: "Đăng nhập",
    sign_in_lead: "Đăng nhập bằng tài khoản định danh điện tử của bạn.",
    client_label: "Dịch vụ yêu cầu đăng nhập",
    login_label: "Số định danh cá nhân hoặc thư điện tử",
    login_hint: "Số định danh cá nhân gồm 12 chữ số, in trên thẻ căn cước.",
    password_label: "Mật khẩu",
    sign_in_button: "Đăng nhập",
    bad_credentials: "Số định danh, thư điện tử hoặc mật khẩu không đúng.",
    too_many_attempts: "Bạn đã nhập sai quá nhiều lần. Vui lòng thử lại sau 15 phút.",
    missing_fields: "Vui lòng nhập đủ tên đăng nhập và mật khẩu.",
    continue_button: "Tiếp tục",
    form_post_title: "Đang chuyển về dịch vụ",
    signed_out_title: "Bạn đã đăng xuất",
    signed_out_body: "Phiên đăng nhập của bạn đã kết thúc trên hệ thống này.",
    request_error_title: "Yêu cầu đăng nhập không hợp lệ",
    unknown_client: "Dịch vụ yêu cầu đăng nhập chưa được đăng ký với hệ thống.",
    bad_redirect_uri: "Địa chỉ chuyển hướng không khớp với địa chỉ đã đăng ký của dịch vụ.",
    back_home: "Về trang chủ",
};

pub(crate) static EN: IdText = IdText {
    sign_in_title: "Sign in",
    sign_in_lead: "Sign in with your electronic identity account.",
    client_label: "Service asking you to sign in",
    login_label: "Personal ID number or e-mail",
    login_hint: "The personal ID number has 12 digits and is printed on the ID card.",
    password_label: "Password",
    sign_in_button: "Sign in",
    bad_credentials: "The personal ID number, e-mail or password is not correct.",
    too_many_attempts: "Too many failed attempts. Please try again in 15 minutes.",
    missing_fields: "Please enter both your login and your password.",
    continue_button: "Continue",
    form_post_title: "Returning to the service",
    signed_out_title: "You are signed out",
    signed_out_body: "Your session on this system has ended.",
    request_error_title: "Invalid sign-in request",
    unknown_client: "The service asking you to sign in is not registered with this system.",
    bad_redirect_uri: "The return address does not match the one registered for the service.",
    back_home: "Back to the home page",
};

pub(crate) fn text(lang: Lang) -> &'static IdText {
    lang.pick(&VI, &EN)
}
