// Every answer the citizen might meet, as a plain Simplified-Chinese sentence.
// The server's `message_zh` wins when present; otherwise the page maps the reply by its kind and reason.

export const FIELD_LABELS = {
  name: "姓名", age: "年龄", gender: "性别", nationality: "民族", phone: "手机号码", id_card: "身份证号码",
  native_place: "籍贯", birth: "出生日期", email: "电子邮箱", career: "职业", address: "现住址",
  hukou: "户口所在地", political_status: "政治面貌", marital_status: "婚姻状况", religion: "宗教信仰",
  education: "学历",
};

export function fieldValue(key, value) {
  if (value === true) return key === "marital_status" ? "已婚" : "是";
  if (value === false) return key === "marital_status" ? "未婚" : "否";
  if (value === null || value === undefined || value === "") return "—";
  if (key === "nationality" && !String(value).endsWith("族")) return `${value}族`;
  if (key === "birth" && /^\d{8}$/.test(String(value))) {
    const s = String(value);
    return `${s.slice(0, 4)}年${Number(s.slice(4, 6))}月${Number(s.slice(6))}日`;
  }
  return String(value);
}

// /face_predict and face_train reasons (README, "Face: enrol and recognise").
const FACE_HINTS = {
  no_face: "请正对屏幕，让脸出现在框内。",
  multiple_faces: "请一位一位来，画面里只留一个人。",
  too_small: "请再靠近一些。",
  not_frontal: "请正对屏幕。",
  blurry: "请稍微停一下，别动。",
  bad_image: "画面不清楚，请稍候。",
  too_large: "画面不清楚，请稍候。",
  not_live: "请缓慢左右转头。",
  person_changed: "请保持同一个人在镜头前。",
  enrolled_as_other: "这张脸已经登记过了，请直接识别，或联系工作人员。",
  busy: "系统正忙，请稍候……",
  unavailable: "人脸服务正在重启，请稍候……",
  unknown: "正在识别，请稍候……",
};

export function faceHint(reply) {
  if (reply.message_zh) return reply.message_zh;
  return FACE_HINTS[reply.reason] || "正在识别，请看着屏幕……";
}

// A ProtocolError (or a refusal frame) as a sentence for the citizen.
export function problemText(error, what = "") {
  const reply = error.reply || error;
  if (reply && reply.message_zh) return reply.message_zh;
  const reason = String((reply && reply.reason) || error.message || "");
  switch (error.kind || reply.type) {
    case "busy":
      return "系统正忙，请稍等片刻再试。";
    case "timeout":
      return `${what}等待时间过长，请重试。`;
    case "network":
    case "closed":
      return "与本机服务的连接中断了，请重试；如果反复出现，请联系工作人员。";
    default:
      break;
  }
  if (/hash|session|expired|handshake/i.test(reason)) return "本次办理已超时或已结束，请重新开始。";
  if (/no speech|speech recognition|transcrib/i.test(reason)) return "没有听清，请再说一遍，或直接输入。";
  if (/not enabled|not available/i.test(reason)) return "本机暂不提供这项服务，请联系工作人员。";
  if (/disk is full|database/i.test(reason)) return "本机暂时无法保存信息，请联系工作人员。";
  if (/identity check/i.test(reason)) return "身份核验没有通过，请到人工窗口办理。";
  if (/origin/i.test(reason)) return "此网页无权使用本机的服务。";
  if (/enrolled_as_other/.test(reason)) return FACE_HINTS.enrolled_as_other;
  return "抱歉，出现了问题，请重试；如果反复出现，请联系工作人员。";
}
