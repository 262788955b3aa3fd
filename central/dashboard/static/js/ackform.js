// The acknowledgement form of the alarms and sensor pages: a required comment and one
// button. The caller says what it covers and what to do with the comment; the form keeps
// its own state (a draft survives every live update around it) and refuses a second
// submit while one is in flight. `submit(comment, signature)` sends it and may return a
// function to run after the sent comment was cleared. Under `central --require-signatures`
// the form also asks for an electronic signature (sign.js); `signature` is then the API's
// `signature` object, else null.
import { h, signing } from "./common.js";
import { signatureFields } from "./sign.js";

let seq = 0;

export function ackForm(labelText, submit) {
  const n = ++seq;
  const comment = h("textarea", {
    id: `ack-c${n}`, name: "comment", required: true, maxlength: 4000, rows: 2,
    "aria-describedby": `ack-n${n}`,
  });
  const note = h("p", { class: "muted ack-note", id: `ack-n${n}` });
  const error = h("p", { class: "error", role: "alert" });
  const button = h("button", { type: "submit" }, "Acknowledge");
  const sig = signing ? signatureFields("acknowledged") : null;
  const form = h("form", { class: "ack-form" },
    h("label", { for: comment.id }, labelText), comment, note, ...(sig ? [sig.element] : []), error, button);
  let busy = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    error.textContent = "";
    if (!comment.value.trim()) {
      error.textContent = "A comment is required: say what you found or did.";
      comment.focus();
      return;
    }
    let signature = null;
    try {
      signature = sig ? sig.value() : null;
    } catch (e) {
      error.textContent = e.message;
      return;
    }
    busy = true;
    button.disabled = true;
    try {
      // `submit` stores the acknowledgement and returns what to do once the draft is
      // gone (redraw, move the focus): a redraw must not see the sent text as a draft.
      const then = await submit(comment.value, signature);
      comment.value = "";
      sig?.reset();
      then?.();
    } catch (e) {
      error.textContent = e.message;
      comment.focus();
    } finally {
      busy = false;
      button.disabled = false;
    }
  });
  return { form, comment, button, note };
}
