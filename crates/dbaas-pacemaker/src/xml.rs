//! A small owned XML element tree: what the driver reads the CIB and
//! `crm_mon` output into, compares fragments with, and writes patches from.
//!
//! Only elements and attributes are kept. The CIB and `crm_mon` carry no
//! meaningful text content, and whitespace between elements is layout; so
//! two trees are equal when their element names, attribute sets and
//! children (in order) are equal, whatever the indentation or attribute
//! order the tools chose when printing them.

use std::io;

use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, Writer};

/// One element with its attributes (in document order) and child elements.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

impl PartialEq for Node {
    fn eq(&self, other: &Self) -> bool {
        // Attribute order carries no meaning in XML; child order does
        // (group members start in document order).
        fn sorted(n: &Node) -> Vec<(&str, &str)> {
            let mut a: Vec<(&str, &str)> = n
                .attrs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            a.sort_unstable();
            a
        }
        self.name == other.name && sorted(self) == sorted(other) && self.children == other.children
    }
}

/// Why a document could not be read as an element tree.
#[derive(Debug, thiserror::Error)]
#[error("malformed XML: {0}")]
pub(crate) struct ParseError(String);

impl Node {
    pub fn new(name: impl Into<String>) -> Self {
        Node {
            name: name.into(),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    pub fn with_attr(mut self, name: &str, value: impl Into<String>) -> Self {
        self.attrs.push((name.to_owned(), value.into()));
        self
    }

    pub fn with_child(mut self, child: Node) -> Self {
        self.children.push(child);
        self
    }

    /// The value of attribute `name`, if present.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The `id` attribute, or "" when there is none.
    pub fn id(&self) -> &str {
        self.attr("id").unwrap_or("")
    }

    /// The first child element named `name`.
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The child elements named `name`.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Node> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Parses a whole document and returns its root element.
    pub fn parse(text: &str) -> Result<Node, ParseError> {
        let mut reader = Reader::from_str(text);
        // The stack of open elements; the root is returned when it closes.
        let mut stack: Vec<Node> = Vec::new();
        let err = |e: &dyn std::fmt::Display| ParseError(e.to_string());
        loop {
            match reader.read_event().map_err(|e| err(&e))? {
                Event::Start(start) => stack.push(Self::from_start(&start)?),
                Event::Empty(start) => {
                    let node = Self::from_start(&start)?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Event::End(_) => {
                    let node = stack
                        .pop()
                        .ok_or_else(|| ParseError("unbalanced end tag".into()))?;
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(node),
                        None => return Ok(node),
                    }
                }
                Event::Eof => return Err(ParseError("no root element".into())),
                // Declarations, comments, text (whitespace) carry nothing
                // the driver uses.
                _ => {}
            }
        }
    }

    fn from_start(start: &BytesStart<'_>) -> Result<Node, ParseError> {
        let name = String::from_utf8(start.name().as_ref().to_vec())
            .map_err(|e| ParseError(e.to_string()))?;
        let mut node = Node::new(name);
        for attr in start.attributes() {
            let attr = attr.map_err(|e| ParseError(e.to_string()))?;
            let key = String::from_utf8(attr.key.as_ref().to_vec())
                .map_err(|e| ParseError(e.to_string()))?;
            let value = attr
                .unescape_value()
                .map_err(|e| ParseError(e.to_string()))?
                .into_owned();
            node.attrs.push((key, value));
        }
        Ok(node)
    }

    /// Writes the element (no declaration, no indentation): every name and
    /// value goes through the XML writer, which escapes values.
    pub fn to_xml(&self) -> String {
        let mut w = Writer::new(Vec::new());
        self.write(&mut w).expect("writing XML to memory");
        String::from_utf8(w.into_inner()).expect("the XML writer writes UTF-8")
    }

    fn write(&self, w: &mut Writer<Vec<u8>>) -> io::Result<()> {
        let start = BytesStart::new(self.name.as_str())
            .with_attributes(self.attrs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if self.children.is_empty() {
            w.write_event(Event::Empty(start))?;
        } else {
            let end = start.to_end().into_owned();
            w.write_event(Event::Start(start))?;
            for child in &self.children {
                child.write(w)?;
            }
            w.write_event(Event::End(end))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write_round_trip_with_escaping() {
        let text = r#"<?xml version="1.0"?>
            <a x="1" y="&lt;&amp;&quot;">
              <b id="one"/>
              <c><d/></c>
            </a>"#;
        let node = Node::parse(text).unwrap();
        assert_eq!(node.attr("y"), Some("<&\""));
        assert_eq!(node.children.len(), 2);
        let again = Node::parse(&node.to_xml()).unwrap();
        assert_eq!(node, again);
    }

    #[test]
    fn attribute_order_does_not_matter_but_child_order_does() {
        let a = Node::parse(r#"<a x="1" y="2"><b/><c/></a>"#).unwrap();
        let b = Node::parse(r#"<a y="2" x="1"><b/><c/></a>"#).unwrap();
        let c = Node::parse(r#"<a y="2" x="1"><c/><b/></a>"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn malformed_documents_are_refused() {
        assert!(Node::parse("<a><b></a>").is_err());
        assert!(Node::parse("").is_err());
    }
}
