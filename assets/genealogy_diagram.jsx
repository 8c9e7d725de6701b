// The genealogy diagram: React Flow drawing the boxes the server placed (see
// mlmcrm/components/diagram.py). A box is a person, an open slot or "show more"; tapping one
// calls onTap with its key, and the server answers with the boxes to draw.
import React, { useEffect, useMemo, useRef } from "react";
import {
  ReactFlow,
  ReactFlowProvider,
  Background,
  Controls,
  Handle,
  Position,
  useReactFlow,
} from "@xyflow/react";
import "@xyflow/react/dist/style.css";

const card = {
  boxSizing: "border-box",
  width: "100%",
  height: "100%",
  padding: "8px 10px",
  borderRadius: 10,
  background: "var(--color-panel-solid, #fff)",
  border: "1px solid var(--gray-7, #ccc)",
  fontSize: 12,
  lineHeight: 1.35,
  overflow: "hidden",
  cursor: "pointer",
};
const hidden = { opacity: 0, pointerEvents: "none" };
const row = { display: "flex", flexWrap: "wrap", columnGap: 8, marginTop: 4 };

function Ends() {
  return (
    <>
      <Handle type="target" position={Position.Top} isConnectable={false} style={hidden} />
      <Handle type="source" position={Position.Bottom} isConnectable={false} style={hidden} />
    </>
  );
}

function Figure({ label, value }) {
  return (
    <span style={{ whiteSpace: "nowrap" }}>
      <span style={{ color: "var(--gray-10, #777)" }}>{label} </span>
      <strong>{value}</strong>
    </span>
  );
}

function PersonBox({ data }) {
  const ring = data.active ? "var(--green-9, #2a8)" : "var(--gray-8, #aaa)";
  return (
    <div
      style={{
        ...card,
        borderColor: data.pinned ? "var(--accent-9, #0a8)" : card.border,
        borderWidth: data.pinned ? 2 : 1,
      }}
      data-person={data.id}
    >
      <Ends />
      <div style={{ display: "flex", gap: 8, alignItems: "center" }}>
        {data.photo ? (
          <img
            src={data.photo}
            alt=""
            width={36}
            height={36}
            style={{ borderRadius: "50%", border: `2px solid ${ring}`, objectFit: "cover" }}
          />
        ) : (
          <span
            aria-hidden="true"
            style={{
              flex: "0 0 36px",
              height: 36,
              borderRadius: "50%",
              border: `2px solid ${ring}`,
              display: "flex",
              alignItems: "center",
              justifyContent: "center",
              fontWeight: 700,
              background: "var(--accent-3, #eef)",
            }}
          >
            {data.initials}
          </span>
        )}
        <span style={{ minWidth: 0, flex: 1 }}>
          <span
            style={{
              display: "block",
              fontWeight: 700,
              fontSize: 13,
              whiteSpace: "nowrap",
              overflow: "hidden",
              textOverflow: "ellipsis",
            }}
          >
            {data.name}
          </span>
          <span style={{ display: "block", color: "var(--gray-11, #555)" }}>
            {(data.slot ? data.slot + " · " : "") + (data.rank || "No rank")}
          </span>
        </span>
        {data.children > 0 || data.binary ? (
          <button
            type="button"
            aria-label="Expand or collapse"
            aria-expanded={data.expanded ? "true" : "false"}
            style={{
              flex: "0 0 auto",
              minWidth: 32,
              height: 28,
              borderRadius: 6,
              border: "1px solid var(--gray-7, #ccc)",
              background: "var(--gray-3, #f4f4f4)",
              cursor: "pointer",
              fontSize: 12,
            }}
          >
            {(data.expanded ? "−" : "+") + (data.children > 0 ? data.children : "")}
          </button>
        ) : null}
      </div>
      <div style={row}>
        <Figure label="PV" value={data.pv} />
        <Figure label="GV" value={data.gv} />
        <span
          style={{
            whiteSpace: "nowrap",
            color: data.active ? "var(--green-11, #173)" : "var(--gray-10, #777)",
          }}
        >
          {data.active ? "active" : "inactive"}
        </span>
      </div>
      {data.binary ? (
        <>
          <div style={row}>
            <Figure label="Left" value={data.left} />
            <Figure label="Right" value={data.right} />
          </div>
          <div style={row}>
            <Figure label="Carry L" value={data.carry_left} />
            <Figure label="Carry R" value={data.carry_right} />
          </div>
        </>
      ) : null}
    </div>
  );
}

function SlotBox({ data }) {
  return (
    <button
      type="button"
      aria-label={"Open slot: " + data.label}
      style={{
        ...card,
        border: "2px dashed var(--accent-8, #0a8)",
        background: "transparent",
        display: "flex",
        flexDirection: "column",
        alignItems: "center",
        justifyContent: "center",
        color: "var(--accent-11, #065)",
      }}
    >
      <Ends />
      <strong>Open slot · {data.label}</strong>
      <span>Tap to place someone here</span>
    </button>
  );
}

function MoreBox({ data }) {
  return (
    <button
      type="button"
      style={{ ...card, background: "var(--gray-3, #f4f4f4)", fontWeight: 600 }}
    >
      <Ends />
      {data.label}
    </button>
  );
}

const nodeTypes = { person: PersonBox, slot: SlotBox, more: MoreBox };
// Every line is drawn the same way, so the server need not say so for each (nor that a box
// cannot be dragged or connected: the diagram as a whole says that).
const edgeOptions = { type: "smoothstep" };

function Viewer({ nodes, edges, view, onTap }) {
  const flow = useReactFlow();
  const box = useRef(null);
  const before = useRef({});
  useEffect(() => {
    const [how, key] = String(view || "").split(":");
    const node = (nodes || []).find((n) => n.id === key);
    if (!node) return;
    if (how === "keep") {
      // The layout moved around the tapped box: move the view with it, so it stays under
      // the finger.
      const old = before.current[key];
      if (!old) return;
      const now = flow.getViewport();
      flow.setViewport({
        x: now.x - (node.position.x - old.x) * now.zoom,
        y: now.y - (node.position.y - old.y) * now.zoom,
        zoom: now.zoom,
      });
      return;
    }
    const width = box.current ? box.current.clientWidth : 800;
    const centreX = node.position.x + node.width / 2;
    if (how === "top") {
      const zoom = width < 600 ? 0.75 : 0.9;
      flow.setViewport({ x: width / 2 - centreX * zoom, y: 24 - node.position.y * zoom, zoom });
    } else {
      flow.setCenter(centreX, node.position.y + node.height / 2, { zoom: 1, duration: 300 });
    }
    // Only a new request moves the view: expanding a box keeps it where the person left it.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [view]);
  useEffect(() => {
    before.current = Object.fromEntries((nodes || []).map((n) => [n.id, n.position]));
  }, [nodes]);
  return (
    <div ref={box} style={{ width: "100%", height: "100%" }}>
      <ReactFlow
        nodes={nodes || []}
        edges={edges || []}
        nodeTypes={nodeTypes}
        defaultEdgeOptions={edgeOptions}
        onNodeClick={(_event, node) => onTap && onTap(node.id)}
        nodesDraggable={false}
        nodesConnectable={false}
        elementsSelectable={false}
        minZoom={0.1}
        maxZoom={2}
        zoomOnPinch={true}
        // Two quick taps open and close a person; they must not zoom as well.
        zoomOnDoubleClick={false}
        panOnDrag={true}
      >
        <Background gap={24} />
        <Controls showInteractive={false} />
      </ReactFlow>
    </div>
  );
}

export function GenealogyDiagram({ nodes, edges, view, onTap, ...rest }) {
  const stable = useMemo(() => nodes || [], [nodes]);
  return (
    <div {...rest}>
      <ReactFlowProvider>
        <Viewer nodes={stable} edges={edges} view={view} onTap={onTap} />
      </ReactFlowProvider>
    </div>
  );
}
